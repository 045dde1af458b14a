"""`/ragadmin`: parse (commands), decide who may (auth), run (handler, resync), show (blocks)."""
