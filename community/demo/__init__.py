"""`community demo`: the stand-in platforms, the sample content, and the command itself."""
