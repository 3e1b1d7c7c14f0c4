"""Command line entry point: `python cli.py --help`."""

from routing_engine.cli.app import main

if __name__ == "__main__":
    main()
