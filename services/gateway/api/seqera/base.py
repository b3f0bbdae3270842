"""The base of every Seqera DTO: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class SeqeraModel(BaseModel):
    """Requests ignore fields they do not know (newer clients send more); responses serialize by alias."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
