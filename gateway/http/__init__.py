"""The HTTP side: the route table and router, the handlers, the middleware (observer,
guard), problem documents and the OpenAPI document. The top of the layers below the app."""
