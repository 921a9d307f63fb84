"""What we learn from bytes: supported MIME types and probes of video, audio, images, PDFs and text."""
