"""The base of every Seqera DTO: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, SerializationInfo, SerializerFunctionWrapHandler, model_serializer
from pydantic.alias_generators import to_camel


class SeqeraModel(BaseModel):
    """Requests ignore fields they do not know (newer clients send more); responses serialize by alias."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class SeqeraResponse(SeqeraModel):
    """A response body: a field without a value is left out, as Seqera does, unless Seqera's schema declares it
    ``nullable`` (list those in ``nullable``, by Python name). Strict generated clients reject a ``null`` the
    schema does not allow. Requests keep plain ``SeqeraModel``: there an explicit ``null`` means something."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    # No return annotation on purpose: pydantic would take it for the serialized schema (FastAPI's /docs would
    # show ``{}`` for every response); without one it keeps the model's own fields.
    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo):  # type: ignore[no-untyped-def]
        data = handler(self)
        if not isinstance(data, dict):
            return data
        for name, field in type(self).model_fields.items():
            if name not in self.nullable and getattr(self, name) is None:
                data.pop((field.alias or name) if info.by_alias else name, None)
        return data
