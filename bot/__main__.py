"""`python -m bot …` runs the `devopsbot` command line."""

from bot.cli import main

if __name__ == "__main__":
    main()
