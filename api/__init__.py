"""The dispatch service: operators create orders, dispatchers route them, analysts export what was confirmed."""
