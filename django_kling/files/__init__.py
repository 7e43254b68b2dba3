"""Bytes coming home and being checked: downloads, clip probing and posters, storage, input images.

Holds ``download`` (result URLs and base64 to a capped temp file, with a host check),
``media`` (probe an MP4, cut a poster with PyAV), ``faststart`` (index first),
``renditions`` (smaller copies), ``posters`` (frames an editor picks), ``storage`` (the storage
alias and file names) and ``images`` (input images checked and prepared as named steps).

Files know no rows: this wing works on bytes, paths and storages, so the models may use it
(``storage``) and the flow hands it what it needs. May use: ``providers`` (their normalized
answers) and the base (``conf``, ``options``, ``exceptions``). Never ``models`` or anything above.
"""
