"""HTTP routers, request/response schemas, the error table and the command line."""
