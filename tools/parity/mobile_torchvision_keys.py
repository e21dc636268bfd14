"""Record the state_dict keys and shapes of the torchvision models that the
key maps torchvision.vgg, .mobilenet_v2, .mobilenet_v3 and .shufflenet_v2
cover, for tests/mmcls/test_mobile.c (which maps them and loads them
strictly into the mm models).

    /usr/bin/python3 tools/parity/mobile_torchvision_keys.py \
        > tests/mmcls/torchvision_mobile_keys.txt

Output: for each model a line `model NAME`, then one line per tensor:
`KEY D0,D1,...` (an empty shape list for a 0-dim tensor)."""
import torchvision

MODELS = ['vgg11', 'vgg13_bn', 'vgg16', 'vgg19_bn', 'mobilenet_v2',
          'mobilenet_v3_small', 'mobilenet_v3_large', 'shufflenet_v2_x0_5',
          'shufflenet_v2_x1_0', 'shufflenet_v2_x1_5', 'shufflenet_v2_x2_0']

print('# torchvision %s state_dict keys and shapes' % torchvision.__version__)
for name in MODELS:
    model = getattr(torchvision.models, name)()
    print('model', name)
    for key, t in model.state_dict().items():
        print(key, ','.join(str(d) for d in t.shape))
