"""A typed async client of our HTTP API (`ot.api`'s models), for the terminal UI and scripts. It
talks HTTP only: it never imports the server, the commands or the database."""
