"""The face model backends, one module each with its config class beside it.

* :mod:`models.backends.dlib`: dlib's HOG detector (``dlib_hog``) and ResNet embedder
  (``dlib_resnet``);
* :mod:`models.backends.onnx`: an embedding network in onnxruntime (``onnx``), by default dlib's
  network converted by ``vertrouwd models convert-dlib``;
* :mod:`models.backends.blazeface`: MediaPipe BlazeFace in LiteRT (``blazeface``).

Each config class has ``type: Literal[key]``; :mod:`models.registry` maps the keys to them and
builds a backend by name. A backend module imports no other backend module except what it
reuses (the ONNX embedder aligns faces with dlib's chip function), and never the registry, so
the package has no import cycle (``tests/test_architecture.py`` checks). Importing one loads
no model and imports neither dlib, onnxruntime, LiteRT nor OpenCV.
"""
