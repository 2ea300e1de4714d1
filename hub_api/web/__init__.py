"""The web interface: server-rendered pages on the API's sessions, for the LMIS unit,
agency staff, the steering committee and auditors, researchers and output checkers, and
the public LMI site (no sign-in)."""
