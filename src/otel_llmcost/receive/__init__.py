"""Receive stage: OTLP/gRPC and OTLP/HTTP transports. Only this package imports grpcio and aiohttp."""
