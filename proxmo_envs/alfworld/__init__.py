"""``proxmo/ALFWorld-v0``: the real ALFWorld engine on games generated from alfworld's own room layouts."""
