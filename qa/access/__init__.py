"""Who may see what: the accounts and their grants (QA_AUTH), API keys that stand for users
(QA_API_KEYS), and the throttle on failed attempts. The engines and the store enforce what
`accounts.Users.may_see` says for every interface."""
