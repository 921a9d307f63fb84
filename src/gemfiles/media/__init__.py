"""What we learn from bytes: the domain's ``Prober`` (``isolated.IsolatedProber``), and the probes of video,
audio, images, PDFs and text it runs in child processes. The supported MIME types are domain policy
(``gemfiles.domain.mime``)."""
