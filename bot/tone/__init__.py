"""The tone stage: a LoRA-adapted local model (or a hosted one) rewrites each cited draft in the
team's voice; bot/tone/guard.py decides whether the rewrite may be sent."""
