# vigil's br2-external tree: every package recipe under package/.
include $(sort $(wildcard $(BR2_EXTERNAL_VIGIL_PATH)/package/*/*.mk))
