"""The wire: what travels on Kafka, as bytes or text, to and from plain values.

``codec`` frames records in the Confluent wire format and decodes and encodes them with the
writer schemas a ``SchemaSource`` gives; ``registry`` is that source, the schema registry's
client (the only network call here), made from the settings; ``avro`` writes cards and reads
events from a per-field plan of their schemas; ``schemas`` loads the contract's ``.avsc``
files; ``offset_notes`` is the text format of a committed offset's metadata, where the
selection and the judge keep their sections. The layer imports only the vocabulary beneath
every layer (``consumer.errors``, ``consumer.events``), never the stages, the observation, the
runner or the commands (tests/unit/test_layers.py keeps it so).
"""
