"""Routes of this part of the partner programme (filled in as it is built)."""

from fastapi import APIRouter

routers: list[APIRouter] = []
