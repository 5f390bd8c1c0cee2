import AuditorCLI
AuditorCommand.main()
