"""The LeNet-style CNN: shapes and parameter count."""

from nnlab.applications import lenet


def test_lenet_shapes_and_parameter_count():
    model = lenet(seed=0)
    model.build()
    # conv 3*3*1*32+32, conv 3*3*32*64+64, dense 1600*128+128, dense 128*10+10
    assert model.count_params() == 320 + 18_496 + 204_928 + 1_290
    assert model.output_shape == (10,)
