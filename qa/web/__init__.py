"""The web app (Gradio): `app` (the page and its handlers), `documents` (the documents folder and
its index), `jobs` (the ingest child), `uploads` (safe saving), `auth` (logins), `render`
(answers as safe HTML and Markdown), `launch` (start it: `qa app`, `python app.py`)."""
