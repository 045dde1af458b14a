"""Question -> cited answer: retrieve passages, compose a cited draft, pass it through the tone stage."""
