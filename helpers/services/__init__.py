"""Services and REST (notebooks 01-06): processes, raw HTTP, the tasks service, Flask checks, consuming, load."""
