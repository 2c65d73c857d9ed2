"""trioflow's HTTP front end and command line."""
