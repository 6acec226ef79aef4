MARKER = "gantry_pth_lib from a .pth file"
