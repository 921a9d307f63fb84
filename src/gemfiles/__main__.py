from gemfiles.cli import main

if __name__ == "__main__":  # spawned child processes (the start-up migration) import this module too
    main()
