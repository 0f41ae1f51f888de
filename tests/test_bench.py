"""vxglib.bench.execute_notebook stores outputs that do not depend on the machine."""
import nbformat

from vxglib import bench


def test_stored_tracebacks_name_project_files_by_relative_path(tmp_path):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("from vxglib import MLPSpec\nMLPSpec(64, 10, depth=0)")
    cell.metadata["tags"] = ["raises-exception"]
    notebook.cells = [cell]
    path = tmp_path / "bad_input.ipynb"
    nbformat.write(notebook, path)
    bench.execute_notebook(path)
    error = nbformat.read(path, as_version=4).cells[0].outputs[-1]
    assert error.output_type == "error" and error.ename == "ValueError"
    traceback = "\n".join(error.traceback)
    assert "vxglib/" in traceback  # the frames inside vxglib are still shown...
    assert str(bench.Path(bench.__file__).resolve().parents[1]) not in traceback  # ...by relative path
