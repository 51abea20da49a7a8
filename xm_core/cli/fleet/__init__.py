"""`xm fleet`: the command group of the fleet (its own folder, since the
command line's folder holds a dozen modules already)."""
