def write(data, path):
    pass
