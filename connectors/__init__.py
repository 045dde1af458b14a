"""Sources the wiki is synced from. Every connector implements `connectors.base.Connector`."""
