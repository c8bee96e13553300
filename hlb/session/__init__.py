"""Client-side session services the daemon calls back into."""

from hlb.session.session import Attachable, Session, new_id

__all__ = ["Attachable", "Session", "new_id"]
