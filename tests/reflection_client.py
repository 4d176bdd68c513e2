"""A client outside Rust that knows nothing of Kleroterion but its address.

It asks the server's reflection service, in both protocol versions, which services it offers
and what their messages look like, then calls Ledger.GetCheckpoint with a request message it
built from the reflected descriptors and reads the answer the same way. It prints one JSON
object; the Rust test `operations::reflection_serves_both_versions_to_a_python_client` checks it.

Needs grpcio and grpcio-reflection (scripts/test installs them in target/test-venv).
Usage: python reflection_client.py HOST:PORT
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def services_over_v1(channel):
    """grpc.reflection.v1 on the generic call path: its messages are v1alpha's, field for field."""
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    names = []
    for response in call(requests, timeout=10):
        names.extend(service.name for service in response.list_services_response.service)
    return sorted(names)


def file_over_v1(channel, symbol):
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)])
    files = []
    for response in call(requests, timeout=10):
        for encoded in response.file_descriptor_response.file_descriptor_proto:
            files.append(descriptor_pb2.FileDescriptorProto.FromString(encoded).name)
    return files


def main():
    address = sys.argv[1]
    result = {}
    with grpc.insecure_channel(address) as channel:
        # v1alpha, through grpcio-reflection's own client.
        database = ProtoReflectionDescriptorDatabase(channel)
        result["v1alpha_services"] = sorted(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        ledger = pool.FindServiceByName("klero.ledger.v1.Ledger")
        result["v1alpha_ledger_methods"] = sorted(method.name for method in ledger.methods)

        # A call made only from what reflection said.
        method = ledger.methods_by_name["GetCheckpoint"]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        get_checkpoint = channel.unary_unary(
            "/klero.ledger.v1.Ledger/GetCheckpoint",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        answer = get_checkpoint(request_class(), timeout=10)
        result["checkpoint_fields"] = sorted(field.name for field, _ in answer.ListFields())
        result["checkpoint_tree_size"] = int(getattr(answer, "tree_size"))

        # v1, the same questions.
        result["v1_services"] = services_over_v1(channel)
        result["v1_ledger_files"] = file_over_v1(channel, "klero.ledger.v1.Ledger")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
