"""Provider batch APIs behind :func:`prefjudge.judging.batch.prefill`: one adapter per wire format.

- :mod:`.openai_api`: the OpenAI Batch API (a JSONL file uploaded to ``/v1/files``, ``/v1/batches``,
  output and error files), shared by OpenAI, Azure OpenAI and OpenAI-compatible providers.
- :mod:`.anthropic_api`: Anthropic Message Batches (``/v1/messages/batches``) through the
  ``anthropic`` SDK (the ``prefjudge[anthropic]`` extra), imported only when used.

An adapter turns a stored request (its request JSON: call parameters and messages) into one line of
the provider's batch, submits, polls and streams results back as :class:`.base.ResultLine` values.
It never touches the store; :mod:`prefjudge.judging.batch` does.
"""
