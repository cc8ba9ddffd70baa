"""docstage's built-in plugins, one module per family, registered through the ``docstage``
entry-point group exactly like third-party plugins."""
