"""One module per family of file formats; each reader turns a file's bytes into a LoadedText."""
