"""Helpers the gateway's tests share: services, the live gateway, draining the queue."""
