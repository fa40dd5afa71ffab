"""proxmo's estimators in the shapes other trainers call: :mod:`proxmo_analysis.integrations.verl`."""
