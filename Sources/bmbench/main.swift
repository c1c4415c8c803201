print("bmbench")
