"""catalog web routes."""

from fastapi import APIRouter

router = APIRouter()
