/* The io suite's test plugin: one key map, so that `mm checkpoint maps`,
 * `convert --map` and init_cfg `map` find a map in a plugin that nobody
 * loaded (the key map lookup loads the plugins on the search path). */
#include <stdio.h>
#include <string.h>

#include "mm/checkpoint.h"
#include "mm/plugin.h"

/* A tutorial LeNet's names (conv1..conv3, fc1, fc2) into mmcls's LeNet5
 * inside an ImageClassifier (features.0/3/6, classifier.0/2). */
static int lenet_map(const mm_state_dict *in, mm_state_dict *out) {
    static const struct {
        const char *from, *to;
    } table[] = {
        {"conv1.", "backbone.features.0."},
        {"conv2.", "backbone.features.3."},
        {"conv3.", "backbone.features.6."},
        {"fc1.", "backbone.classifier.0."},
        {"fc2.", "backbone.classifier.2."},
    };
    for (size_t i = 0; i < in->n; i++) {
        const char *name = in->items[i].name;
        size_t k = 0;
        while (k < sizeof table / sizeof *table &&
               strncmp(name, table[k].from, strlen(table[k].from)) != 0)
            k++;
        if (k == sizeof table / sizeof *table)
            return mm_error_set(MM_EINVAL, "unknown key '%s'", name);
        char to[256];
        snprintf(to, sizeof to, "%s%s", table[k].to,
                 name + strlen(table[k].from));
        MM_TRY(mm_state_dict_add(out, to, in->items[i].tensor));
    }
    return MM_OK;
}

static const mm_key_map lenet = {
    .name = "iotest.lenet",
    .doc = "a tutorial LeNet (conv1-3, fc1-2) into mmcls LeNet5",
    .apply = lenet_map,
};

static int iotest_init(void) { return mm_key_map_register(&lenet); }

MM_PLUGIN_DEFINE(iotest, "0.1.0", "Apache-2.0", "io suite test key map",
                 NULL, iotest_init);
