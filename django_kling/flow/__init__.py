"""The job's life after it is created: submit, poll, fetch, and everything that keeps jobs moving.

Holds the pipeline steps (``pipeline``) and what the rows and the provider exchange (``exchange``),
when a running job is asked about next (``polling``) and the scheduler that asks (``scheduler``),
the concurrency cap (``admission``), fallback between providers (``fallback``), completion
callbacks (``callbacks``), putting stuck work back (``sync``, ``batch_queue``), sending a step's
message by name (``dispatch``), lock rows (``locks``) and the actors' options.

May use: the records (``models``, ``signals``), ``files``, ``providers`` and the base (``conf``,
``options``, ``exceptions``). Never the editors' work, the site or Django's front rooms (admin,
commands, views): the actors that run these steps live in ``django_kling.tasks``, on top.
"""
