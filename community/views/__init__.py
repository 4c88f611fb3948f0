"""What pages and e-mails show: view models, charts, covers, SEO, calendar files, panels.

Controllers render these; mail jobs compose ticket e-mails from them. They read through
services and the models and decide nothing.
"""
