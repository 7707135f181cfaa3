"""The render API, one module per resource. Views only translate HTTP: validate with an
input serializer, authorise, call one service or selector, shape the answer. Only the
URL confs import these modules."""
