# Twisted finds endpoint types in twisted/plugins/ directories on sys.path
# (no __init__.py here or in twisted/, so the real twisted package is not
# shadowed). The endpoint itself: interface/endpoint.py.
from interface.endpoint import ChatEndpointParser

chat_endpoint = ChatEndpointParser()
