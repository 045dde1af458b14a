"""Every action id and block id the bot puts in its messages, in one place.

Listeners match on these and builders emit them; a test checks every id a builder emits has a
listener. Prefixed with `ragbot_` so they never collide with ids of other apps' blocks.
"""

FEEDBACK_BLOCK = "ragbot_feedback"
FEEDBACK_UP = "ragbot_feedback_up"
FEEDBACK_DOWN = "ragbot_feedback_down"

VOTES = {FEEDBACK_UP: "up", FEEDBACK_DOWN: "down"}

# /ragvsft (bot/slack/ragvsft/blocks.py). Slack wants action ids unique within a block, so answer
# and symptom buttons get "_<n>" appended; the listeners match these prefixes by pattern. Every
# walk button's value is a signed walk state (bot/decision/codec.py), never a server-side key.
RAGVSFT_ANSWER = "ragbot_ragvsft_answer"  # + "_<n>"
RAGVSFT_BACK = "ragbot_ragvsft_back"
RAGVSFT_RESTART = "ragbot_ragvsft_restart"
RAGVSFT_SHARE = "ragbot_ragvsft_share"
RAGVSFT_SYMPTOM = "ragbot_ragvsft_symptom"  # + "_<n>"; value: the symptom id
RAGVSFT_SYMPTOMS = "ragbot_ragvsft_symptoms"  # back to the symptom list
RAGVSFT_SYMPTOM_SHARE = "ragbot_ragvsft_symptom_share"
