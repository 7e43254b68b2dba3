"""What editors do with clips: review decisions, presets made into requests, batches, clean-up.

Holds ``review`` (approve, reject, feature), ``preset_jobs`` (requests from a preset) and
``preset_defaults`` (the starting set), ``batches`` (one "Generate video" for thousands of
objects, made into jobs in chunks) and ``cleanup`` (files of deleted rows and of long-rejected
clips). The admin, the commands and the Wagtail app all call these; none has a second copy.

May use: ``jobs`` (the write API), ``flow``, the records, ``files``, ``providers`` and the base.
Never ``site`` (a room of the same rank) nor the admin, commands or Wagtail app above it.
"""
