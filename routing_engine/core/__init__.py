"""The pure core: the model (ir), diagnostics, conditions, schedules, geography, the
compiler and the runtime. It imports nothing of the service, the store or the command line."""
