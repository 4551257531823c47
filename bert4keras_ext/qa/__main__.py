from bert4keras_ext.qa.cli import main

main()
